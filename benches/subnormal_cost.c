/* Does this CPU pay for subnormal floats? Times a vectorized multiply-add over 4096 floats,
 * 20,000 times, with normal inputs, subnormal inputs, and normal inputs whose products are
 * subnormal; then the same with flush-to-zero / denormals-are-zero set. Three rounds each.
 *
 *   gcc -O3 -march=native benches/subnormal_cost.c -o /tmp/subnormal_cost
 *   /tmp/subnormal_cost        # IEEE 754: subnormals computed
 *   /tmp/subnormal_cost ftz    # flushed to zero, as `inception` computes by default
 *
 * A benchmark, not a test (x86-64 only, for the MXCSR intrinsics). */
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <xmmintrin.h>
#include <pmmintrin.h>
#define N 4096
static float a[N], b[N], c[N];
double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
double run(float av, float bv){
  for(int i=0;i<N;i++){a[i]=av;b[i]=bv;c[i]=0;}
  double t0=now();
  for(int r=0;r<20000;r++){ for(int i=0;i<N;i++) c[i]=a[i]*b[i]+c[i]*0.5f; __asm__ volatile(""::"r"(c):"memory");}
  return now()-t0;
}
int main(int argc,char**argv){
  if(argc>1){_MM_SET_FLUSH_ZERO_MODE(_MM_FLUSH_ZERO_ON);_MM_SET_DENORMALS_ZERO_MODE(_MM_DENORMALS_ZERO_ON);}
  for(int k=0;k<3;k++){
  double n=run(1.0f,0.5f), s=run(1e-39f,0.5f), o=run(1e-20f,1e-20f);
  printf("normal %.3f s, subnormal inputs %.3f s (%.1fx), subnormal outputs %.3f s (%.1fx)\n",n,s,s/n,o,o/n);}
}

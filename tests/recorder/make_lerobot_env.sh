#!/usr/bin/env bash
# Build LeRobot's own environment for the export round trip (tests/recorder/lerobot_roundtrip.py):
#
#     bash tests/recorder/make_lerobot_env.sh /tmp/lrvenv
#     PSI_LEROBOT_PYTHON=/tmp/lrvenv/bin/python .venv/bin/python -m pytest tests/recorder/test_export.py -k real
#
# lerobot 0.4.4 (the last release for Python 3.11) pins torch<2.11 and torchvision<0.26; PyPI's
# builds of those are CUDA ones (several GB with their nvidia-* wheels). This environment instead
# takes the project's torch 2.13 CPU wheel and installs lerobot and torchvision without their
# dependency pins (--no-deps), then lerobot's dataset dependencies one by one. torchvision's
# compiled operators do not load against the CPU torch; the round-trip script declares the two
# operator schemas torchvision's Python import needs (no torchvision operator is run).
set -euo pipefail
venv=${1:?usage: make_lerobot_env.sh VENV_DIR}
torch_wheel=${PSI_TORCH_WHEEL:-$(ls /opt/wheels/torch-2.13.0+cpu-*.whl 2>/dev/null | head -1)}
python3.11 -m venv "$venv"
"$venv/bin/pip" install -q "${torch_wheel:-torch==2.13.0}"
"$venv/bin/pip" install -q --no-deps "lerobot==0.4.4" "torchvision==0.28.0"
"$venv/bin/pip" install -q "datasets>=4,<5" "huggingface-hub>=0.34.2,<0.36" "av>=15,<16" jsonlines "packaging<26" \
    deepdiff termcolor "imageio[ffmpeg]" draccus==0.10.0 "opencv-python-headless<4.13" "accelerate>=1.10,<2" \
    pandas pyarrow zarr==3.1.6 simplejpeg
"$venv/bin/python" -c "import torch; assert torch.__version__.endswith('+cpu'), torch.__version__; print('torch', torch.__version__)"

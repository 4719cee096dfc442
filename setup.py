# Copyright 2026 thermostereo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Build script: ament_python layout, installable by colcon and by pip."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = 'thermostereo_ros'

setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'test.*']),
    package_data={PACKAGE: ['weights/*.safetensors', 'weights/*.json', '**/*.yaml',
                            'data/render/textures/*.png', 'data/render/textures/README.md']},
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + PACKAGE]),
        ('share/' + PACKAGE, ['package.xml']),
        ('share/' + PACKAGE + '/launch', glob('launch/*.launch.py')),
        ('share/' + PACKAGE + '/config', glob('config/*.yaml') + glob('config/*.rviz')
         + glob('config/*.xml')),
        ('share/' + PACKAGE + '/config/train', glob('config/train/*.yaml')),
    ],
    # torch is deliberately not pinned here: GPU and Jetson users keep the CUDA build they
    # installed; the dev environment pins a CPU build in requirements/.
    install_requires=['setuptools', 'numpy', 'safetensors', 'pyyaml'],
    extras_require={
        'torch': ['torch>=2.1'],
        'tools': ['opencv-python-headless', 'rosbags', 'tqdm', 'onnx', 'onnxruntime',
                  'tensorboard'],
        'openvino': ['onnx', 'openvino'],  # backend:=openvino, the fastest on most CPUs
    },
    zip_safe=False,
    maintainer='thermostereo_ros maintainers',
    maintainer_email='maintainers@thermostereo.dev',
    description='Real-time thermal stereo depth (ThermoStereoRT) for ROS 2.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'thermostereo_node = thermostereo_ros.ros.main:main',
            'thermostereo = thermostereo_ros.cli.main:main',
        ],
    },
)

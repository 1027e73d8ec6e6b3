from glob import glob

from setuptools import find_packages, setup

package_name = "painter_ros"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        ("share/" + package_name + "/launch", glob("launch/*.launch.py")),
        ("share/" + package_name + "/config", glob("config/*.yaml")),
        ("share/" + package_name + "/rviz", glob("rviz/*.rviz")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="AnimatePainter developers",
    maintainer_email="dev@animatepainter.org",
    description="rclpy nodes for AnimatePainter stroke plans",
    license="MIT",
    entry_points={
        "console_scripts": [
            "planner = painter_ros.planner_node:main",
            "plan_publisher = painter_ros.plan_publisher_node:main",
            "execute_server = painter_ros.execute_server_node:main",
            "preview = painter_ros.preview_node:main",
        ],
    },
)

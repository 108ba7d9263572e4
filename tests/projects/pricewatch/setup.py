# What scrapyd-deploy writes for a project without one; also what `pip install .`
# builds when the project is installed into a worker image.
from setuptools import find_packages, setup

setup(
    name="pricewatch",
    version="1.0",
    packages=find_packages(),
    entry_points={"scrapy": ["settings = pricewatch.settings"]},
)

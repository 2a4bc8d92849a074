from setuptools import setup

setup(cffi_modules=["ossfast/_build.py:ffibuilder"])

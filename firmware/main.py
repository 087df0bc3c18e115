"""Runs on boot (MicroPython executes /main.py); the code is in /otpad."""

from otpad.app import main

main()

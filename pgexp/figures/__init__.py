"""Figures: functions that draw result tables into matplotlib figures."""

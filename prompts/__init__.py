"""Prompt templates as package data, rendered strictly (filled in by the planner issue)."""

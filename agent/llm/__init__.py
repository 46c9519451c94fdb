"""Planner LLM backends behind one small interface (see ``base.py``)."""

"""The LLM's roles as tools, and the small LLM protocol they use.

``protocol`` is the interface a backend implements, ``access`` how a tool reaches one (``ctx.llm``),
``structured`` the one structured-output loop every role (and the agent's planner) uses; the role
functions (refine, layout, highres, story, caption, evaluate) sit beside the tool classes in
``tools.py``, which register through the ``llm`` entry point. Importing this package loads nothing.
"""

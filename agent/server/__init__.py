"""The HTTP service and the web UI (``llmga serve``): a face over the library, like the CLI.

``service.Service`` holds the process's one runtime, model pool and planner and runs turns and
workflow runs as jobs; ``api`` is the FastAPI routers over it, ``ui`` the Gradio app over the same
service, ``app.create_app`` puts them on one ASGI app with one error boundary.
"""

"""Jaxpr Explorer's Streamlit UI (entry: app/main.py)."""

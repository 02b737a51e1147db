"""Keeping the site's copy of the provincial directory current (ARCHITECTURE §3.5)."""

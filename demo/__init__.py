"""Demo data: `manage.py seed_demo` (management/commands/seed_demo.py) and the generator behind it (seed/)."""

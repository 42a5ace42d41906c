from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo data for development, screenshots and benchmarks: `manage.py seed_demo` and its generator (seed/).

    Kept out of the kernel (portal/) because it writes every feature app's tables; nothing at run time imports it.
    """

    name = "demo"
    verbose_name = "Demo data"

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from payments.gateways.sandbox import OPERATIONS, arm_fault, disarm_faults
from payments.models import SandboxFault


class Command(BaseCommand):
    help = ("Arm a test switch of the sandbox gateway: its next call (of --operation, or any) declines, errors, "
            "times out, or succeeds and then times out; once. 'clear' disarms the switches not used yet.")

    def add_arguments(self, parser):
        parser.add_argument("fault", choices=[*SandboxFault.Fault.values, "clear"])
        parser.add_argument("--operation", choices=OPERATIONS, default="",
                            help="only this kind of call (default: whichever call comes first)")

    def handle(self, *args, fault, operation, **options):
        if settings.PAYMENT_GATEWAY != "sandbox":
            raise CommandError(f"The portal uses the {settings.PAYMENT_GATEWAY} gateway; test switches exist only "
                               "in the sandbox (PAYMENT_GATEWAY=sandbox).")
        if fault == "clear":
            self.stdout.write(f"Disarmed {disarm_faults()} switch(es).")
            return
        arm_fault(fault, operation)
        self.stdout.write(f"Armed: the next sandbox {operation or 'call'} will {fault.replace('_', ' ')}.")

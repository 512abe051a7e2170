#!/usr/bin/env python3
"""The help desk app, checked by cdk-nag 2 applied as an Aspect (help_desk.py says what each stage deploys).

cdk synth                                                             # the app as it was (CfnPhoneNumber)
cdk synth -c main_number_stage=migrating                              # the first deploy of the migration
cdk synth -c main_number_stage=claimed -c main_number=+12065550100    # from then on
"""

import aws_cdk as cdk
from help_desk import main

main(cdk.App())

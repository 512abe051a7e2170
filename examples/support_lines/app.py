#!/usr/bin/env python3
"""The support lines app, checked by cdk-nag 3 as a validation plugin (support_lines.py says what it deploys).

cdk synth -c claim_phone_numbers=true -c lines_per_team=3 -c eu_account=111122223333
"""

import aws_cdk as cdk
from support_lines import main

main(cdk.App())

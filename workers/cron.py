"""The periodic jobs, for `rq cron workers.cron` (see the Procfile)."""

import os

from rq import cron

from workers.jobs import charge_month, send_reminders, sweep

QUEUE = os.environ.get("RQ_QUEUE", "default")

# Hourly, so a month is charged even if the process was down at midnight on the 1st;
# a line is charged once per month however often this runs.
cron.register(charge_month, queue_name=QUEUE, cron="7 * * * *")
# The outbox sweep and the flush of incomplete long texts.
cron.register(sweep, queue_name=QUEUE, interval=60)
# Appointment reminders: each appointment is claimed once, so overlapping runs are safe.
cron.register(send_reminders, queue_name=QUEUE, interval=300)

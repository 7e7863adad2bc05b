"""Scheduled posts that fire on time and exactly once: /announce, drop countdowns and openings,
reminder DMs. ``service.ScheduleService`` puts the pieces together."""

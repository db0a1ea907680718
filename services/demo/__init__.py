"""The main job: a simulated street (modelled on seed 000) run on the embedded runtime."""

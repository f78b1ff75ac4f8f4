"""Reading tools of the film view: the measurement kit (`measure_tool`, drawn by `paint`)."""

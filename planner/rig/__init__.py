"""The closed loop: a simulated rig, camera registration, stroke calibration.

* :mod:`.profile` — a rig profile: a machine profile plus ``[execution]`` (how the
  rig misses: position, width, colour, paint running dry) and ``[camera]`` (how the
  canvas is photographed), and optionally ``[calibration]`` (what was measured).
* :mod:`.execute` — paint a plan's strokes as the rig really would (seeded errors).
* :mod:`.layout` — the corner markers and colour patches on the canvas margins.
* :mod:`.camera` — photograph the physical canvas (perspective, blur, cast, noise, JPEG).
* :mod:`.register` — from a photo back to the plan's pixel frame, colour-corrected.
* :mod:`.calibrate` — a calibration sheet (:func:`~.calibrate.calibration_sheet_plan`),
  and the rig's real width, offset and coverage from a photo of it.
* :mod:`.loop` — paint, photograph, register, replan (:mod:`~animatepainter.planner.teacher.replan`), repeat.

Nothing is re-exported here: import from the modules (``from
animatepainter.planner.rig.register import register_photo``), so that loading a rig
profile does not pull in OpenCV, colour-science and the teacher.
"""

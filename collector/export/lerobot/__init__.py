"""LeRobot v3.0 datasets: layout and info.json (:mod:`.layout`), the per-episode work
(:mod:`.episode`), video encoding and concatenation (:mod:`.video`), statistics
(:mod:`.stats`), the dataset card (:mod:`.card`), the writer (:mod:`.writer`,
registered as ``lerobot``) and its validator (:mod:`.validate`, with :mod:`.validate_stats`
and :mod:`.validate_videos`). Nothing here is imported until the format is used."""

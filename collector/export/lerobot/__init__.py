"""LeRobot v3.0 datasets: layout and info.json (:mod:`.layout`), the per-episode work
(:mod:`.episode`), video encoding and concatenation (:mod:`.video`), statistics
(:mod:`.stats`), the dataset card (:mod:`.card`) and the writer (:mod:`.writer`,
registered as ``lerobot``). Nothing here is imported until the format is used."""

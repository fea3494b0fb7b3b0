"""Robot backends: the G1 + Dex3-1 embodiment, the MuJoCo simulation, the DDS link, lower-body controllers."""

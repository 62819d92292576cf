"""The dataset directory's lifecycle, without Beam: versions, the run lock, commits, verification."""

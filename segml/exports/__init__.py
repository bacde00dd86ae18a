"""Exports: audiences per segment and channel, and segment run folders written atomically."""

from segml.exports.audiences import (
    SegmentRun,
    audience_frames,
    export_segments,
    write_segment_run,
)

__all__ = ["SegmentRun", "audience_frames", "export_segments", "write_segment_run"]

//! The S3 back-end (placeholder while the seam lands).

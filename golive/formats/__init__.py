"""Container formats golive writes, apart from the protocols that serve them: fragmented MP4
(``fmp4``) for the HLS segments and parts."""

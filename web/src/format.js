// How figures are written on the pages.

/** "5:07" or "1:02:03" since an ISO 8601 time. */
export function since(iso, now) {
  const seconds = Math.max(0, Math.floor((now - Date.parse(iso)) / 1000));
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = String(seconds % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

export function bitrate(bitsPerSecond) {
  if (!bitsPerSecond) return "–";
  if (bitsPerSecond >= 1e6) return `${(bitsPerSecond / 1e6).toFixed(1)} Mb/s`;
  return `${Math.round(bitsPerSecond / 1e3)} kb/s`;
}

export function viewers(count) {
  return count === 1 ? "1 viewer" : `${count} viewers`;
}

export function resolution(room) {
  return room.width && room.height ? `${room.width}×${room.height}` : "–";
}

/** "1:02:03" or "4:05" for a duration in seconds. */
export function duration(seconds) {
  const total = Math.max(0, Math.round(seconds || 0));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** "12 MB", "1.5 GB" for a size in bytes. */
export function bytes(size) {
  if (size >= 1e9) return `${(size / 1e9).toFixed(1)} GB`;
  if (size >= 1e6) return `${Math.round(size / 1e6)} MB`;
  return `${Math.round((size || 0) / 1e3)} kB`;
}

/** A date and time as the viewer's browser writes them. */
export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "–";
}

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

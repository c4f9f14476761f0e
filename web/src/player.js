// The video player of the watch page: hls.js where Media Source Extensions exist (every
// desktop browser, Safari included), the browser's own HLS where they do not (iPhone Safari
// before iOS 17.1). It knows nothing of rooms: the page attaches a playlist URL, halts the
// player when the stream ends, and reads the levels and the latency it exposes.
import { nextTick, onBeforeUnmount, onMounted, ref } from "vue";

const HLS_TYPE = "application/vnd.apple.mpegurl";
const NETWORK_RETRY_MS = 1500;
const LATENCY_MS = 500;
// A viewer who joins is moved forward to hls.js's live sync position once playback has begun,
// when that is at least this far ahead (seconds): see joinLive().
const JOIN_JUMP_S = 0.1;

let Hls = null; // the hls.js class, loaded with the watch page only

async function loadHls() {
  if (!Hls) {
    try {
      Hls = (await import("hls.js")).default;
    } catch {
      Hls = { isSupported: () => false };
    }
  }
  return Hls;
}

/** "720p · source", "800 kb/s" or "level 2", from a level of the multivariant playlist. */
function levelLabel(level, index) {
  const url = Array.isArray(level.url) ? level.url[0] : level.url || "";
  const rendition = level.name || url.split("/").slice(-2)[0] || "";
  const size = level.height
    ? `${level.height}p`
    : level.bitrate
      ? `${Math.round(level.bitrate / 1000)} kb/s`
      : `level ${index + 1}`;
  return rendition && rendition !== size ? `${size} · ${rendition}` : size;
}

/**
 * A player for the `<video>` in the `video` ref.
 *
 * `measuring()` says when the latency is worth measuring (frames are playing);
 * `onProblem(message)` hears what the viewer should be told when playback cannot go on.
 */
export function usePlayer(video, { measuring = () => true, onProblem = () => {} } = {}) {
  const levels = ref([]); // [{ index, label }] from the multivariant playlist
  const selected = ref(-1); // -1: Auto (hls.js picks by bandwidth)
  const playingLevel = ref(-1);
  const latency = ref(null); // seconds behind the streamer, when known
  const behind = ref(false); // far enough behind live to offer a jump
  const mode = ref(""); // "hls.js", "native" or "unsupported"

  let hls = null;
  let attached = false; // a player is set up (or being set up) by attach()
  let generation = 0; // bumped by destroy() and halt(): an attach() still loading gives up
  let retryTimer = null;
  let latencyTimer = null;

  async function play() {
    const el = video.value;
    if (!el) return;
    try {
      await el.play();
    } catch (error) {
      // Browsers refuse sound without a click on the page first: start muted instead (the
      // controls unmute), rather than not at all.
      if (error && error.name === "NotAllowedError" && !el.muted) {
        el.muted = true;
        try {
          await el.play();
        } catch {
          // the controls' play button remains
        }
      }
    }
  }

  /** Play the HLS stream at `url`, in place of whatever played before. */
  async function attach(url) {
    destroy();
    attached = true;
    const mine = ++generation;
    await nextTick();
    const el = video.value;
    if (!el) return;
    const Player = await loadHls();
    if (mine !== generation) return; // halted or left while loading hls.js
    if (Player.isSupported()) {
      mode.value = "hls.js";
      attachHlsJs(Player, el, url);
    } else if (el.canPlayType(HLS_TYPE)) {
      mode.value = "native";
      el.src = url;
      play();
    } else {
      mode.value = "unsupported";
      onProblem("This browser cannot play HLS video.");
    }
  }

  /**
   * hls.js starts a joining viewer PART-HOLD-BACK behind the live edge as its first playlist
   * showed it, but playback begins only once the parts since the last keyframe have been
   * fetched and decoded, and hls.js keeps that time as latency: it plays faster to catch up
   * only while more than a second is buffered. So once playback has begun, at each part
   * buffered, until it is done: jump to where hls.js would start now, as soon as that is
   * buffered (docs/protocol-notes.md, "Latency"). True when nothing is left to do.
   */
  function joinLive(player, el) {
    if (player !== hls) return true;
    const target = player.liveSyncPosition;
    if (!Number.isFinite(target)) return false;
    if (target - el.currentTime < JOIN_JUMP_S) return true;
    for (let i = 0; i < el.buffered.length; i++) {
      if (el.buffered.start(i) <= target && target < el.buffered.end(i)) {
        el.currentTime = target;
        return true;
      }
    }
    return false;
  }

  function attachHlsJs(Player, el, url) {
    const player = new Player({ lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.5 });
    hls = player;
    el.addEventListener(
      "playing",
      () => {
        if (joinLive(player, el)) return;
        const retry = () => joinLive(player, el) && player.off(Player.Events.FRAG_BUFFERED, retry);
        player.on(Player.Events.FRAG_BUFFERED, retry);
      },
      { once: true },
    );
    player.on(Player.Events.MANIFEST_PARSED, (_, data) => {
      levels.value = data.levels.map((level, index) => ({ index, label: levelLabel(level, index) }));
      play();
    });
    player.on(Player.Events.LEVEL_SWITCHED, (_, data) => {
      playingLevel.value = data.level;
    });
    player.on(Player.Events.ERROR, (_, data) => {
      if (!data.fatal || player !== hls) return;
      if (data.type === Player.ErrorTypes.MEDIA_ERROR) {
        player.recoverMediaError();
      } else if (data.type === Player.ErrorTypes.NETWORK_ERROR) {
        // A network hiccup: try again shortly; if the stream ended meanwhile, the page's poll
        // of the room says so and halts the player.
        clearTimeout(retryTimer);
        retryTimer = setTimeout(() => player === hls && player.startLoad(), NETWORK_RETRY_MS);
      } else {
        onProblem(`Playback failed (${data.details}).`);
        destroy();
      }
    });
    player.loadSource(url);
    player.attachMedia(el);
  }

  /** Play the level the viewer picked in `selected` (-1: Auto). */
  function chooseLevel() {
    // nextLevel switches at the next fragment without emptying the buffer: no stall.
    if (hls) hls.nextLevel = selected.value;
  }

  function jumpToLive() {
    const el = video.value;
    if (!el) return;
    if (hls && Number.isFinite(hls.liveSyncPosition)) {
      el.currentTime = hls.liveSyncPosition;
    } else if (el.seekable.length) {
      el.currentTime = Math.max(0, el.seekable.end(el.seekable.length - 1) - 1);
    }
    play();
  }

  /** The stream ended: pause and stop loading; the levels stay until the next attach(). */
  function halt() {
    generation++;
    clearTimeout(retryTimer);
    const el = video.value;
    if (el) el.pause();
    if (hls) {
      hls.stopLoad();
    } else if (el && mode.value === "native") {
      el.removeAttribute("src");
      el.load();
    }
  }

  /** Stop loading and forget the player (the last frame stays on screen). */
  function destroy() {
    attached = false;
    generation++;
    clearTimeout(retryTimer);
    if (hls) {
      hls.destroy();
      hls = null;
    }
    levels.value = [];
    selected.value = -1;
    playingLevel.value = -1;
    latency.value = null;
    behind.value = false;
  }

  function measure() {
    const el = video.value;
    if (!el || !measuring()) return;
    let value = null;
    if (hls) {
      // Behind the streamer by golive's ingest clock (EXT-X-PROGRAM-DATE-TIME of the frame
      // on screen); hls.js's own estimate behind the live edge when that is not known yet.
      const date = hls.playingDate;
      value = date ? (Date.now() - date.getTime()) / 1000 : hls.latency;
      const target = hls.targetLatency || 3;
      behind.value = Number.isFinite(hls.latency) && hls.latency > target + 3;
    } else if (typeof el.getStartDate === "function") {
      const startDate = el.getStartDate().getTime();
      if (Number.isFinite(startDate)) value = (Date.now() - startDate) / 1000 - el.currentTime;
    }
    latency.value = Number.isFinite(value) && value >= 0 && value < 3600 ? value : null;
  }

  onMounted(() => {
    latencyTimer = setInterval(measure, LATENCY_MS);
  });
  onBeforeUnmount(() => {
    clearInterval(latencyTimer);
    destroy();
  });

  return {
    levels,
    selected,
    playingLevel,
    latency,
    behind,
    mode,
    /** Whether attach() set up a player that was not destroyed since. */
    isAttached: () => attached,
    attach,
    chooseLevel,
    jumpToLive,
    halt,
    destroy,
  };
}

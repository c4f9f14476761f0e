// Polling that lives with the component: runs at once, then every `ms` while the page is
// visible (a hidden tab does not poll; it catches up when shown again).
import { onBeforeUnmount, onMounted, ref } from "vue";

export function usePoll(task, ms, onError = () => {}) {
  let timer = null;
  let running = false;
  let stopped = false;

  async function tick() {
    clearTimeout(timer);
    if (stopped) return;
    if (!document.hidden && !running) {
      running = true;
      try {
        await task();
      } catch (error) {
        onError(error);
      } finally {
        running = false;
      }
    }
    if (!stopped) timer = setTimeout(tick, ms);
  }

  function onVisibility() {
    if (!document.hidden) tick();
  }

  onMounted(() => {
    document.addEventListener("visibilitychange", onVisibility);
    tick();
  });
  onBeforeUnmount(() => {
    stopped = true;
    clearTimeout(timer);
    document.removeEventListener("visibilitychange", onVisibility);
  });
  return { refresh: tick };
}

/** The current time, updated every second: for "live for 12:34". */
export function useNow() {
  const now = ref(Date.now());
  let timer = null;
  onMounted(() => {
    timer = setInterval(() => (now.value = Date.now()), 1000);
  });
  onBeforeUnmount(() => clearInterval(timer));
  return now;
}

// Sending a form to the API: busy while it runs, and the API's error ({"error": {"code",
// "message", "field"}}, see api.js) shown beside the field it names or above the button.
import { reactive, ref } from "vue";

/**
 * `submit()` runs `action` (an async function) and resolves once it is done, whether it
 * failed or not. `fields` lists the fields whose errors the form shows beside them, in
 * `errors`; an error about any other field, or about none, goes in `error`.
 */
export function useSubmit(action, { fields = [] } = {}) {
  const busy = ref(false);
  const error = ref("");
  const errors = reactive(Object.fromEntries(fields.map((field) => [field, ""])));

  async function submit() {
    error.value = "";
    for (const field of fields) errors[field] = "";
    busy.value = true;
    try {
      await action();
    } catch (e) {
      if (e.field && e.field in errors) errors[e.field] = e.message;
      else error.value = e.message;
    } finally {
      busy.value = false;
    }
  }

  return { busy, error, errors, submit };
}

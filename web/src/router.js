// Page routes. golive answers each of these paths with index.html (golive/pages.py), so a
// reload or a shared link lands on the same page; usernames are one path segment.
import { createRouter, createWebHistory } from "vue-router";
import { loadSession, session } from "./session.js";
import HomeView from "./views/HomeView.vue";

export const router = createRouter({
  history: createWebHistory(),
  routes: [
    { path: "/", name: "home", component: HomeView, meta: { title: "Live now" } },
    {
      path: "/login",
      name: "login",
      component: () => import("./views/LoginView.vue"),
      meta: { title: "Log in" },
    },
    {
      path: "/signup",
      name: "signup",
      component: () => import("./views/SignupView.vue"),
      meta: { title: "Sign up" },
    },
    {
      path: "/dashboard",
      name: "dashboard",
      component: () => import("./views/DashboardView.vue"),
      meta: { title: "Dashboard", signedIn: true },
    },
    {
      path: "/:name([A-Za-z0-9][A-Za-z0-9_-]{2,31})",
      name: "watch",
      component: () => import("./views/WatchView.vue"),
      props: true,
    },
    {
      path: "/:rest(.*)*",
      name: "not-found",
      component: () => import("./views/NotFoundView.vue"),
      meta: { title: "Not found" },
    },
  ],
});

router.beforeEach(async (to) => {
  if (to.meta.signedIn) {
    await loadSession();
    if (!session.user) return { name: "login", query: { next: to.fullPath } };
  }
  return true;
});

router.afterEach((to) => {
  const title = to.name === "watch" ? to.params.name : to.meta.title;
  document.title = title ? `${title} · golive` : "golive";
});

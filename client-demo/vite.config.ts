import { defineConfig } from "vite";

// `npm run dev` serves the SPA on its own origin; point it at the API with
// VITE_API_URL (see README.md). `npm run build` writes dist/, which the Flask
// app serves at `/` next to `/graphql`.
export default defineConfig({
  server: { host: "127.0.0.1", port: 5173, strictPort: true },
  preview: { host: "127.0.0.1", port: 4173, strictPort: true },
  build: { outDir: "dist", emptyOutDir: true },
});

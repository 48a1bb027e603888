/**
 * Where the GraphQL API lives.
 *
 * Served by the Flask app, the SPA shares the API's origin, so the relative
 * `/graphql` is right. Served on an origin of its own (`npm run dev`), it
 * needs `VITE_API_URL`, and that origin must be in the server's
 * `CORS_ORIGINS`, or the browser keeps the answers (and the cookie) from us.
 */
export const API_URL: string = import.meta.env.VITE_API_URL || "/graphql";

/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** The GraphQL endpoint when it lives on another origin (build time). */
  readonly VITE_API_URL?: string;
}

interface ImportMeta {
  readonly env: ImportMetaEnv;
}

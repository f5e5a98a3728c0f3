import js from '@eslint/js';
import ts from 'typescript-eslint';
import svelte from 'eslint-plugin-svelte';
import globals from 'globals';

const tauriOnlyInBindings = {
  paths: [],
  patterns: [
    {
      group: ['@tauri-apps/api', '@tauri-apps/api/*'],
      message: 'Only src/lib/bindings.ts (generated) talks to Tauri; use src/lib/ipc.ts.',
    },
    {
      group: ['**/bindings', '**/bindings.ts'],
      message: 'Components use src/lib/ipc.ts, which wraps the generated bindings.',
    },
  ],
};

export default ts.config(
  { ignores: ['dist/', 'node_modules/', 'src/lib/bindings.ts'] },
  js.configs.recommended,
  ...ts.configs.strict,
  ...svelte.configs.recommended,
  {
    languageOptions: { globals: { ...globals.browser } },
    rules: {
      'no-restricted-imports': ['error', tauriOnlyInBindings],
      // Backend strings are untrusted: they are rendered as text, never as HTML.
      'svelte/no-at-html-tags': 'error',
    },
  },
  {
    files: ['**/*.svelte', '**/*.svelte.ts'],
    languageOptions: { parserOptions: { parser: ts.parser, extraFileExtensions: ['.svelte'] } },
  },
  {
    files: ['src/lib/ipc.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    // Tests drive the IPC layer through Tauri's own mocks.
    files: ['tests/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['@tauri-apps/api/core', '@tauri-apps/api/event'], message: 'Tests use @tauri-apps/api/mocks.' }] },
      ],
    },
  },
);

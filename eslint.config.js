// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', '.run/', '.tools/', 'node_modules/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    // Workflow code runs in Temporal's deterministic sandbox: no Node built-ins, no I/O modules. Temporal's
    // names are imported by workflows too.
    files: ['workflows/**/*.ts', 'src/core/**/*.ts', 'src/temporal/names.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['node:*', 'fs', 'path', 'os', 'child_process', 'crypto', 'stream'],
              message: 'workflows and the pure core must not import Node modules',
            },
            {
              group: [
                '@aws-sdk/*',
                'pg',
                'execa',
                'openpgp',
                '@temporalio/activity',
                '@temporalio/worker',
                '@temporalio/client',
              ],
              message: 'workflows and the pure core must not do I/O',
            },
          ],
        },
      ],
    },
  },
);

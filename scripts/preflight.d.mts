// Types for scripts/preflight.mjs, which stays plain JavaScript so it runs before any dependency.
export interface Requirement {
  program: string;
  /** The Debian package that provides it. */
  package: string;
  /** Where it must be, when PATH is not enough. */
  path?: string;
}

export type Decision =
  | { action: 'none' }
  | { action: 'install'; packages: string[]; commands: string[][] }
  | { action: 'stop'; message: string };

export const CHROMIUM: string;
export const REQUIREMENTS: readonly Requirement[];
export function decide(facts: { found: (program: string) => boolean; root: boolean; apt: boolean }): Decision;
export function locate(program: string): boolean;
export function preflight(): boolean;

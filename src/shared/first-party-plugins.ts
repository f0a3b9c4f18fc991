/** The first-party plugins (hooks/), loadable by bare name: `--hook systemd`. A leaf, so that the
 *  settings can list them without importing the hook catalogue, whose types import the settings. */
export const FIRST_PARTY_PLUGINS = ['systemd', 'prometheus', 'slow-requests'] as const;

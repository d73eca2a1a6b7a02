export const EXIT_OK = 0;
export const EXIT_HOURS_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_SIGNAL: Readonly<Record<string, number>> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };

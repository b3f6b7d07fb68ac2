// Whether a process id names a live process on this machine (signal 0 checks without sending):
// EPERM means it exists under another user. Used for leftover temp files of dead writers (agent)
// and stale discovery files of servers that stopped without removing them (cli).
export function isProcessRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

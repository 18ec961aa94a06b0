/**
 * A job's files split into tasks, as CLP's scheduler splits them: each task
 * takes files until its original size reaches target_archive_size (the last
 * takes the rest), so a large job becomes several tasks, each one clp-s run
 * and one unit of registration. CLP's scheduler also interleaves files of
 * similar names across partitions; we keep the job's order (sorted keys or
 * paths), which only changes which files share an archive.
 */
export function partition<T extends { size: number }>(files: T[], targetArchiveSize: number): T[][] {
  const tasks: T[][] = [];
  let current: T[] = [];
  let size = 0;
  for (const f of files) {
    current.push(f);
    size += f.size;
    if (size >= targetArchiveSize) {
      tasks.push(current);
      current = [];
      size = 0;
    }
  }
  if (current.length) tasks.push(current);
  return tasks;
}

import { chmod, mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

/**
 * The hotplug script xl runs for each Strata vif (xl.cfg `script=`), in place of vif-bridge: dom0 has no
 * bridge for it, the driver moves the vif into the instance's network namespace. netback connects the
 * guest's NIC once the script reports `hotplug-status = connected` in xenstore (as vif-common does), so
 * that is all it does. A constant: nothing of an instance is interpolated into it.
 */
const VIF_SCRIPT = `#!/bin/sh
case "$1" in
  online|add) exec xenstore-write "$XENBUS_PATH/hotplug-status" connected ;;
  offline|remove) xenstore-rm "$XENBUS_PATH/hotplug-status" 2>/dev/null; exit 0 ;;
esac
`;

export async function writeVifScript(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, VIF_SCRIPT, { mode: 0o755 });
  await chmod(path, 0o755);
}

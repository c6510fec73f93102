# Seal a Windows template: component clean-up, temp files, then sysprep
# (generalize) so that every clone boots as a new machine with a new SID.
$ErrorActionPreference = 'Stop'
Dism.exe /Online /Cleanup-Image /StartComponentCleanup /ResetBase
Remove-Item -Recurse -Force -ErrorAction SilentlyContinue "$env:TEMP\*", 'C:\Windows\Temp\*'
wevtutil el | ForEach-Object { wevtutil cl "$_" 2>$null }
& "$env:SystemRoot\System32\Sysprep\sysprep.exe" /generalize /oobe /quit /mode:vm
